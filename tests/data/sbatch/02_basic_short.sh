#!/bin/bash
#SBATCH -J basic-short
#SBATCH -p gpu
#SBATCH -t 15
#SBATCH -n 2
#SBATCH -c 1
hostname
