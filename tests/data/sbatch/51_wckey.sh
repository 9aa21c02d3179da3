#!/bin/bash
#SBATCH --wckey=nightly
#SBATCH -t 5
true
