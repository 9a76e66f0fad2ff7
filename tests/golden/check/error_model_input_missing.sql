CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification');
INSERT INTO m SELECT speed, congested FROM traffic;
