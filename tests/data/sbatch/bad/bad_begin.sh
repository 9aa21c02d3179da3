#!/bin/bash
# line: 3
#SBATCH --begin=now+3fortnights
true
