CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (volume DOUBLE)
  WITH ('task' = 'classification');
INSERT INTO m SELECT speed, volume FROM traffic;
