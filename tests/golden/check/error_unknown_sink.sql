CREATE TABLE traffic WITH ('connector' = 'generator');
INSERT INTO outt SELECT * FROM traffic;
