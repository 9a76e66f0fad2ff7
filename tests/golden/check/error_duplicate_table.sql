CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE traffic WITH ('connector' = 'generator');
