CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (level STRING)
  WITH ('task' = 'classification', 'classes' = 'free, slow, jammed');
-- The label must be the class name, not its index.
INSERT INTO m SELECT speed, CAST(speed > 40 AS BIGINT) AS level FROM traffic;
