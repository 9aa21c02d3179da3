#!/bin/bash
#SBATCH --partition=gpu
#SBATCH --gpus=2
#SBATCH --cpus-per-gpu=1
#SBATCH -t 5
true
