#!/bin/bash
# line: 5
#SBATCH --job-name=bad

#SBATCH --mem=4X
true
