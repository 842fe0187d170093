#!/bin/sh
# Snakemake's cluster-generic status command: prints running, success or failed for job $1.
# Uses scontrol, which knows finished jobs for MinJobAge seconds, so no accounting is needed.
state=$(scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
case "$state" in
  COMPLETED) echo success ;;
  PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | RESIZING) echo running ;;
  *) echo failed ;;
esac
