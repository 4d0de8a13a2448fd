"""Running a batch: the loop over jobs (``loop``), one job's way from submit to files (``job``),
and what it needs: a limiter, a retry policy, the noticing of task ends, lost-reply
judgement, uploads, result fetching, time, and the progress shown."""
