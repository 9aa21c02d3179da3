#!/bin/bash
#SBATCH --mail-type=ALL,TIME_LIMIT_90
#SBATCH -t 5
true
