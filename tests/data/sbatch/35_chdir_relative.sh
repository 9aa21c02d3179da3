#!/bin/bash
#SBATCH -D sub
#SBATCH -t 5
pwd
