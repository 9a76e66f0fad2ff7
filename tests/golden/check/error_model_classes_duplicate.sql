CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (level STRING)
  WITH ('task' = 'classification', 'classes' = 'free, slow, free');
