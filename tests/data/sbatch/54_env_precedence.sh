#!/bin/bash
# env: SBATCH_PARTITION=gpu SBATCH_TIMELIMIT=8
# args: --job-name=env-and-args
#SBATCH --partition=debug
#SBATCH --time=5
#SBATCH --job-name=from-script
true
