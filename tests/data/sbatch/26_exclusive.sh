#!/bin/bash
#SBATCH --exclusive
#SBATCH -t 5
true
