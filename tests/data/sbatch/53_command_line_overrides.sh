#!/bin/bash
# args: --time=9 --job-name=from-args -- first second
# rest-refuses: 22.05
#SBATCH --job-name=from-script
#SBATCH --time=5
#SBATCH --partition=gpu
echo "$@"
