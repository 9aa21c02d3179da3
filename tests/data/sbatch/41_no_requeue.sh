#!/bin/bash
#SBATCH --no-requeue
#SBATCH -t 5
true
