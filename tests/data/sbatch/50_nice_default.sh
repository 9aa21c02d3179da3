#!/bin/bash
#SBATCH --nice
#SBATCH -t 5
true
