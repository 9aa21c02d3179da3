#!/bin/bash
#SBATCH --export=NONE
#SBATCH -t 5
env
