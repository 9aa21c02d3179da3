#!/bin/bash

# Resources for the nightly run
#SBATCH --job-name=comments   # the name shown by squeue

##SBATCH --partition=gpu      (disabled with a double hash)
#SBATCH --time=10             # minutes

   # an indented comment does not end the block
#SBATCH --ntasks=1
echo running
