#!/bin/bash
#SBATCH -p gpu --gpus-per-node=1 --mem-per-gpu=300M
#SBATCH -t 5
true
