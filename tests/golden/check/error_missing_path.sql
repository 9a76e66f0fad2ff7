CREATE TABLE readings (speed DOUBLE) WITH ('connector' = 'file', 'format' = 'json');
