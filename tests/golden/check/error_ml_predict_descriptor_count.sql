CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL congestion INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification');
INSERT INTO out SELECT * FROM ML_PREDICT(TABLE traffic, MODEL congestion, DESCRIPTOR(speed));
