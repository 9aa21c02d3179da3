#!/bin/bash
#SBATCH --job-name=trailing    
#SBATCH --time=5	
true
