CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification');
INSERT INTO out SELECT * FROM ML_METRICS(MODEL m);
