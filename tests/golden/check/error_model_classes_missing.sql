CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (level STRING)
  WITH ('task' = 'classification');
INSERT INTO m SELECT speed, CASE WHEN speed < 40 THEN 'slow' ELSE 'free' END AS level FROM traffic;
