#!/bin/bash
#SBATCH --nice=50
#SBATCH -t 5
true
