"""Operations: the stack file and what is generated from it (docker compose, a Helm chart),
the secrets a deployment needs, and the doctor that checks a deployment before it runs."""
