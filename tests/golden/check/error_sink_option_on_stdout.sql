CREATE TABLE out WITH ('connector' = 'stdout', 'format' = 'xml');
