# One image per service: docker build --build-arg PROJECT=Endpoints/EventReplay.Producer -t eventreplay-producer .
# (docker-compose.yml builds all six). Not exercised on the development machines, which have no Docker engine.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG PROJECT
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY Shared/ Shared/
COPY Endpoints/ Endpoints/
COPY Gateway/ Gateway/
RUN dotnet publish "$PROJECT" -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
ARG PROJECT
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_URLS=http://+:8080 ASSEMBLY=${PROJECT}
EXPOSE 8080
# The assembly is named after the project folder (Endpoints/EventReplay.Producer → EventReplay.Producer.dll).
ENTRYPOINT ["sh", "-c", "exec dotnet \"$(basename \"$ASSEMBLY\").dll\""]
