#!/bin/bash
#SBATCH --job-name=indented
  #SBATCH --partition=gpu
	#SBATCH --time=99
#SBATCH --time=4
true
