CREATE TABLE traffic WITH ('connector' = 'generator', 'seed' = '1', 'seed' = '2');
