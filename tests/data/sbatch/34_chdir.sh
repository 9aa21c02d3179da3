#!/bin/bash
#SBATCH --chdir=/tmp
#SBATCH -t 5
pwd
