#!/bin/bash
#SBATCH -p gpu --ntasks=2 --gpus-per-task=1
#SBATCH -t 5
true
