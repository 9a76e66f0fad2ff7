CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE) WITH ('task' = 'classification');
