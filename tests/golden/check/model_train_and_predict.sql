CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL congestion
  INPUT (speed DOUBLE, volume DOUBLE, occupancy DOUBLE)
  OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'algorithm' = 'logistic_regression', 'optimizer' = 'adam',
        'learning_rate' = '0.01', 'l2' = '0.0001', 'scaler' = 'standard', 'partition_by' = 'sensor_id', 'device' = 'cpu');
INSERT INTO congestion SELECT sensor_id, speed, volume, occupancy, congested FROM traffic;
INSERT INTO out SELECT sensor_id, ts, prediction, probability
  FROM ML_PREDICT(TABLE traffic, MODEL congestion, DESCRIPTOR(speed, volume, occupancy)) WHERE probability > 0.5;
