#!/bin/bash
#SBATCH --job-name="quoted name with spaces"
#SBATCH --comment='single # quoted, with a hash'
#SBATCH --time=5
true
