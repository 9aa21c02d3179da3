#!/bin/bash
#SBATCH --requeue
#SBATCH -t 5
true
