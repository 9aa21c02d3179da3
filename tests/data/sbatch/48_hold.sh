#!/bin/bash
#SBATCH --hold
#SBATCH -t 5
true
