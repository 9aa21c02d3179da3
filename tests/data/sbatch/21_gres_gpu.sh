#!/bin/bash
#SBATCH --partition=gpu
#SBATCH --gres=gpu:fake:1
#SBATCH -t 5
nvidia-smi || true
