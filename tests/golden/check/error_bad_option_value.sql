CREATE TABLE traffic WITH ('connector' = 'generator', 'rate' = 'fast');
