"""`grade release`: the student kit, and the public checks that run inside it.

builder   builds the kit (stubs, quizzes, grader without hidden tests, public vectors)
vectors   records public test vectors by running the hidden tests against the reference
encoding  plain-data storage of call inputs/outputs (npz, loaded without pickle)
vector_file  where the vectors live, one file's layout (`load_vectors`)
(`grader.grading.public` replays the vectors against a student's code in the kit)
quizzes   practice quizzes ship; exam quizzes ship stripped of their keys, or not at all
audit     the leak check every kit must pass
"""
