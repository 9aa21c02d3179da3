#!/usr/bin/env bash
# 22.05 cannot signal the batch shell alone (B:) over REST: refused there
# rest-refuses: 22.05
#SBATCH -J train-resnet
#SBATCH -p gpu
#SBATCH --gres=gpu:1
#SBATCH -c 2
#SBATCH --mem=1500M
#SBATCH -t 0-04:00
#SBATCH -o %x.%j.out
#SBATCH -e %x.%j.err
#SBATCH --signal=B:USR1@300
#SBATCH --requeue

set -euo pipefail
python train.py --epochs 90
