CREATE TABLE traffic WITH ('connector' = 'generator);
