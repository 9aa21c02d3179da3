#!/bin/bash
#SBATCH --mem-per-cpu=200
#SBATCH --cpus-per-task=2
#SBATCH -t 5
true
