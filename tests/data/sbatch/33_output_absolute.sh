#!/bin/bash
#SBATCH -o /tmp/sbatch-parity-%j.log -e /tmp/sbatch-parity-%j.log
#SBATCH -t 5
true
