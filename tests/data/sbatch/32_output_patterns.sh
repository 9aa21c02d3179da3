#!/bin/bash
#SBATCH --job-name=patterns
#SBATCH --output=logs-%x-%j.out
#SBATCH --error=logs-%x-%j.err
#SBATCH --input=/dev/null
#SBATCH -t 5
true
