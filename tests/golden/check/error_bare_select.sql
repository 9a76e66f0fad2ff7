CREATE TABLE traffic WITH ('connector' = 'generator');
SELECT * FROM traffic;
