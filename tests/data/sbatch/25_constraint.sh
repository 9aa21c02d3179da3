#!/bin/bash
#SBATCH --constraint=slurmclient
#SBATCH -t 5
true
