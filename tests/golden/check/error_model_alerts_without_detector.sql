CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL congestion INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'algorithm' = 'logistic_regression');
INSERT INTO congestion SELECT speed, occupancy, congested FROM traffic;
CREATE TABLE alerts WITH ('connector' = 'stdout');
INSERT INTO alerts SELECT * FROM ML_ALERTS(MODEL congestion);
