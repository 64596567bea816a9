// serverless.yml with osls, offline: `osls package` produces the CloudFormation template and zips asserted here
// (no connection beyond loopback while it runs); the packaged zips run as deployed in the Lambda emulator
// (Node 22, the real runtime interface client) against the wire test server; `osls invoke local` runs handlers.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './fixtures/handlers/bundle.js';
import { httpEvent, parseResponse } from './fixtures/handlers/http-event.js';
import { removeOslsWork, runOsls, type OslsResult } from './fixtures/handlers/osls.js';
import { extractZip } from './fixtures/handlers/unzip.js';
import { startLambdaContainer, stopAllLambdaContainers } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

type Resource = { Type: string; Condition?: string; DependsOn?: string | string[]; Properties: Record<string, any> };
interface Template {
  Resources: Record<string, Resource>;
  Conditions: Record<string, unknown>;
  Outputs: Record<string, unknown>;
}

const WORK = join(ROOT, '.tmp', 'osls-test', `package-${process.pid}`);

const FUNCTIONS = {
  items: { logicalId: 'ItemsLambdaFunction', handler: 'handlers/items/index.handler', memory: 512, timeout: 10, concurrency: 20, role: 'ApiFunctionsRole' },
  transfer: { logicalId: 'TransferLambdaFunction', handler: 'handlers/transfer.handler', memory: 512, timeout: 10, concurrency: 10, role: 'ApiFunctionsRole' },
  health: { logicalId: 'HealthLambdaFunction', handler: 'handlers/health.handler', memory: 256, timeout: 5, concurrency: 2, role: 'ApiFunctionsRole' },
  stockConsumer: { logicalId: 'StockConsumerLambdaFunction', handler: 'handlers/sqs-consumer.handler', memory: 512, timeout: 30, concurrency: 5, role: 'StockConsumerRole' },
} as const;

async function packageService(name: string, args: string[] = []): Promise<{ result: OslsResult; dir: string; template: Template }> {
  const dir = join(WORK, name);
  await rm(dir, { recursive: true, force: true });
  const result = await runOsls(['package', '--package', dir, ...args]);
  if (result.code !== 0) throw new Error(`osls package failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  const template = JSON.parse(await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  return { result, dir, template };
}

/** The JSON result `osls invoke local` prints after the function's own log lines. */
function invokeLocalResult(stdout: string): any {
  const match = /^\{\n {4}"statusCode"[\s\S]*?^\}$/m.exec(stdout);
  if (!match) throw new Error(`no result in the invoke local output:\n${stdout}`);
  return JSON.parse(match[0]);
}

describe('serverless.yml packaged with osls', () => {
  let server: WireServer;
  let dev: Awaited<ReturnType<typeof packageService>>;

  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
    dev = await packageService('dev', ['--stage', 'dev']);
  });
  afterAll(async () => {
    await stopAllLambdaContainers();
    await server?.stop();
    await Promise.all([rm(WORK, { recursive: true, force: true }), removeOslsWork()]);
  });

  it('packages offline: no connection or DNS lookup beyond loopback', () => {
    // Assess
    expect(dev.result.code).toBe(0);
    expect(dev.result.refused).toEqual([]);
    expect(dev.result.stdout + dev.result.stderr).toContain('Service packaged');
  });

  it('declares each function: handler, Node 22 on arm64, memory, timeout, reserved concurrency, its role, the environment', () => {
    for (const [name, expected] of Object.entries(FUNCTIONS)) {
      // Act
      const fn = dev.template.Resources[expected.logicalId];

      // Assess
      expect(fn?.Type, name).toBe('AWS::Lambda::Function');
      expect(fn?.Properties).toMatchObject({
        Handler: expected.handler,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: expected.memory,
        Timeout: expected.timeout,
        ReservedConcurrentExecutions: expected.concurrency,
        Role: { 'Fn::GetAtt': [expected.role, 'Arn'] },
        Environment: {
          Variables: {
            MONGODB_URI: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: 'MongoUriSecret' }, ':SecretString:uri}}']] },
            MONGODB_URI_REVISION: '1',
            MONGODB_DB_NAME: 'app',
            POWERTOOLS_LOG_LEVEL: 'INFO',
          },
        },
      });
      expect(fn?.Properties.VpcConfig, name).toBeUndefined();
    }
    expect(dev.template.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it('keeps the connection string out of the template: only a dynamic reference to the stack secret', () => {
    // Act
    const text = JSON.stringify(dev.template);
    const secret = dev.template.Resources.MongoUriSecret;

    // Assess
    expect(/mongodb(\+srv)?:\/\/[^"\\]*@/.test(text), 'a connection string with credentials').toBe(false);
    expect(text.includes('resolve:ssm'), 'an ssm reference').toBe(false);
    expect(secret).toMatchObject({ Type: 'AWS::SecretsManager::Secret' });
    expect(secret?.Properties.SecretString['Fn::If'][0]).toBe('AtlasEnabled');
    expect(dev.template.Outputs).toHaveProperty('MongoUriSecretArn');
  });

  it('routes the HTTP API to the items, transfer and health functions', () => {
    // Act
    const routes = Object.values(dev.template.Resources)
      .filter((resource) => resource.Type === 'AWS::ApiGatewayV2::Route')
      .map((route) => `${route.Properties.RouteKey} -> ${route.Properties.Target['Fn::Join'][1][1].Ref}`)
      .sort();

    // Assess
    expect(routes).toEqual([
      'DELETE /items/{id} -> HttpApiIntegrationItems',
      'GET /health -> HttpApiIntegrationHealth',
      'GET /items -> HttpApiIntegrationItems',
      'GET /items/{id} -> HttpApiIntegrationItems',
      'PATCH /items/{id} -> HttpApiIntegrationItems',
      'POST /items -> HttpApiIntegrationItems',
      'POST /transfers -> HttpApiIntegrationTransfer',
    ]);
    expect(dev.template.Resources.HttpApiIntegrationItems?.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
  });

  it('feeds the consumer from the queue with partial batch responses, the queue backed by a dead-letter queue', () => {
    // Act
    const mapping = Object.values(dev.template.Resources).find((resource) => resource.Type === 'AWS::Lambda::EventSourceMapping');
    const queue = dev.template.Resources.StockQueue;

    // Assess
    expect(mapping?.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': ['StockQueue', 'Arn'] },
      FunctionName: { 'Fn::GetAtt': ['StockConsumerLambdaFunction', 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    expect(queue?.Properties).toMatchObject({
      VisibilityTimeout: 180,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['StockDeadLetterQueue', 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(dev.template.Resources.StockDeadLetterQueue?.Type).toBe('AWS::SQS::Queue');
  });

  it('grants each role only what its functions do', () => {
    // Act
    const actions = (roleId: string) =>
      (dev.template.Resources[roleId]?.Properties.Policies as Array<{ PolicyDocument: { Statement: Array<{ Action: string[] }> } }>)
        .flatMap((policy) => policy.PolicyDocument.Statement.flatMap((statement) => statement.Action))
        .sort();

    // Assess
    expect(actions('ApiFunctionsRole')).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(actions('StockConsumerRole')).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']);
    for (const roleId of ['ApiFunctionsRole', 'StockConsumerRole']) {
      const role = JSON.stringify(dev.template.Resources[roleId]);
      expect(role.includes('"*"') || role.includes('secretsmanager'), roleId).toBe(false);
    }
  });

  it('alarms on every function\'s errors and throttles and on the dead-letter queue', () => {
    // Act
    const alarms = Object.entries(dev.template.Resources).filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm');

    // Assess
    const metrics = alarms.map(([, alarm]) => `${alarm.Properties.MetricName}:${JSON.stringify(alarm.Properties.Dimensions[0].Value)}`).sort();
    expect(metrics).toEqual(
      [
        ...Object.values(FUNCTIONS).flatMap((fn) => [`Errors:{"Ref":"${fn.logicalId}"}`, `Throttles:{"Ref":"${fn.logicalId}"}`]),
        'ApproximateNumberOfMessagesVisible:{"Fn::GetAtt":["StockDeadLetterQueue","QueueName"]}',
      ].sort(),
    );
    for (const [, alarm] of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
  });

  it('runs items on standard Lambda by default: its capacity provider is behind a condition that is false', () => {
    // Assess
    expect(dev.template.Conditions.ItemsOnManagedInstances).toEqual({ 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
    expect(dev.template.Resources.ItemsLambdaFunction?.Properties.CapacityProviderConfig['Fn::If'][0]).toBe('ItemsOnManagedInstances');
    for (const [name, expected] of Object.entries(FUNCTIONS)) {
      if (name !== 'items') expect(dev.template.Resources[expected.logicalId]?.Properties.CapacityProviderConfig, name).toBeUndefined();
    }
  });

  it('creates no Atlas resource by default: each is behind a condition that is false', () => {
    // Act
    const atlas = Object.entries(dev.template.Resources).filter(([, resource]) => resource.Type.startsWith('MongoDB::Atlas::'));

    // Assess
    expect(atlas.map(([id, resource]) => `${id}:${resource.Type}:${resource.Condition}`).sort()).toEqual([
      'AtlasAccessList:MongoDB::Atlas::ProjectIpAccessList:AtlasAccessList',
      'AtlasApiDatabaseUser:MongoDB::Atlas::DatabaseUser:AtlasEnabled',
      'AtlasPrivateEndpoint:MongoDB::Atlas::PrivateEndpointAWS:AtlasPrivateEndpoint',
      'AtlasPrivateEndpointService:MongoDB::Atlas::PrivateEndpointService:AtlasPrivateEndpoint',
      'AtlasStockConsumerDatabaseUser:MongoDB::Atlas::DatabaseUser:AtlasEnabled',
    ]);
    expect(dev.template.Conditions).toMatchObject({
      AtlasEnabled: { 'Fn::Not': [{ 'Fn::Equals': ['none', 'none'] }] },
      AtlasAccessList: { 'Fn::Equals': ['none', 'access-list'] },
      AtlasPrivateEndpoint: { 'Fn::Equals': ['none', 'private-endpoint'] },
      VpcEnabled: { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] },
    });
  });

  it('packages each function alone: its CommonJS bundle and source map, nothing else', async () => {
    for (const name of Object.keys(FUNCTIONS)) {
      // Act
      const files = await extractZip(join(dev.dir, `${name}.zip`), join(WORK, 'unzipped', name));

      // Assess
      const module = FUNCTIONS[name as keyof typeof FUNCTIONS].handler.replace(/\.handler$/, '');
      expect(files.sort(), name).toEqual([`${module}.cjs`, `${module}.cjs.map`]);
    }
  });

  it('runs the packaged bundles as deployed, under the Lambda runtime on Node 22, against the test server', async () => {
    // Prepare: the zips' files, as they are, as the task root; no project node_modules to fall back on
    const container = async (name: keyof typeof FUNCTIONS) => {
      const taskRoot = join(WORK, 'unzipped', name);
      await extractZip(join(dev.dir, `${name}.zip`), taskRoot);
      return startLambdaContainer({
        taskRoot,
        entry: FUNCTIONS[name].handler.replace(/\.handler$/, ''),
        functionName: `serverless-mongodb-example-dev-${name}`,
        env: { MONGODB_URI: server.uri, MONGODB_DB_NAME: 'app', POWERTOOLS_LOG_LEVEL: 'WARN', NODE_PATH: taskRoot },
      });
    };
    const [items, health, transfer, stockConsumer] = await Promise.all([container('items'), container('health'), container('transfer'), container('stockConsumer')]);

    // Act
    const created = await items.invoke(httpEvent('POST /items', { body: { name: 'From the zip' } }));
    const id = (parseResponse(created.result).body as { id: string }).id;
    const read = await items.invoke(httpEvent('GET /items/{id}', { pathParameters: { id } }));
    const badInput = await items.invoke(httpEvent('POST /items', { body: '{"name":' }));
    const healthy = await health.invoke(httpEvent('GET /health'));
    const transferred = await transfer.invoke(httpEvent('POST /transfers', { body: { from: 'nobody', to: 'anybody', amount: 1 } }));
    const consumed = await stockConsumer.invoke({ Records: [{ messageId: 'm-1', body: JSON.stringify({ sku: 'Z-9', quantity: 4, version: 1 }) }] });

    // Assess
    expect(created).toMatchObject({ ok: true, result: { statusCode: 201 } });
    expect(parseResponse(read.result)).toMatchObject({ statusCode: 200, body: { id, name: 'From the zip' } });
    expect(parseResponse(badInput.result)).toMatchObject({ statusCode: 400, body: { error: { code: 'MALFORMED_JSON' } } });
    expect(parseResponse(healthy.result)).toMatchObject({ statusCode: 200, body: { status: 'ok' } });
    expect(parseResponse(transferred.result)).toMatchObject({ statusCode: 404, body: { error: { code: 'NOT_FOUND', field: 'from' } } });
    expect(consumed).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
    expect(server.documents('app', 'items')).toEqual([expect.objectContaining({ name: 'From the zip' })]);
    expect(server.documents('app', 'stock')).toEqual([expect.objectContaining({ _id: 'Z-9', quantity: 4 })]);
    expect(server.connections.map((connection) => connection.appName)).toContain('serverless-mongodb-example-dev-items');
  });

  it('runs handlers with `osls invoke local` against the test server, offline, and exits', async () => {
    // Prepare
    const env = { MONGODB_URI: server.uri, POWERTOOLS_LOG_LEVEL: 'WARN' };
    const event = httpEvent('POST /items', { body: { name: 'Invoked locally' } });

    // Act
    const health = await runOsls(['invoke', 'local', '--stage', 'local', '--function', 'health', '--data', JSON.stringify(httpEvent('GET /health'))], { env });
    const items = await runOsls(['invoke', 'local', '--stage', 'local', '--function', 'items', '--data', JSON.stringify(event)], { env });

    // Assess
    expect(health).toMatchObject({ code: 0, refused: [] });
    expect(parseResponse(invokeLocalResult(health.stdout))).toMatchObject({ statusCode: 200, body: { status: 'ok' } });
    expect(items).toMatchObject({ code: 0, refused: [] });
    expect(parseResponse(invokeLocalResult(items.stdout))).toMatchObject({ statusCode: 201, body: { name: 'Invoked locally' } });
    expect(server.documents('app', 'items').map((item) => item.name)).toContain('Invoked locally');
  });

  it('takes a stage\'s parameters: prod concurrency, a VPC, and the Atlas database users with a private endpoint', async () => {
    // Act
    const prod = await packageService('prod', [
      '--stage',
      'prod',
      '--param=atlas=private-endpoint',
      '--param=atlasProjectId=0123456789abcdef01234567',
      '--param=atlasClusterName=cluster0',
      '--param=atlasClusterHost=cluster0.abcde.mongodb.net',
      '--param=vpcId=vpc-1',
      '--param=vpcSubnetIds=subnet-a,subnet-b',
      '--param=vpcSecurityGroupIds=sg-1',
      '--param=itemsCapacityProviderArn=arn:aws:lambda:us-east-1:123456789012:capacity-provider:items',
      '--param=itemsWorkerCount=2',
    ]);

    // Assess
    expect(prod.result.refused).toEqual([]);
    expect(prod.template.Resources.ItemsLambdaFunction?.Properties).toMatchObject({
      ReservedConcurrentExecutions: 50,
      VpcConfig: { SubnetIds: ['subnet-a', 'subnet-b'], SecurityGroupIds: ['sg-1'] },
      Environment: { Variables: { POWERTOOLS_LOG_LEVEL: 'WARN' } },
    });
    expect(prod.template.Conditions).toMatchObject({
      AtlasEnabled: { 'Fn::Not': [{ 'Fn::Equals': ['private-endpoint', 'none'] }] },
      AtlasPrivateEndpoint: { 'Fn::Equals': ['private-endpoint', 'private-endpoint'] },
      VpcEnabled: { 'Fn::Not': [{ 'Fn::Equals': ['subnet-a,subnet-b', ''] }] },
    });
    expect(prod.template.Resources.AtlasApiDatabaseUser?.Properties).toMatchObject({
      ProjectId: '0123456789abcdef01234567',
      DatabaseName: '$external',
      AWSIAMType: 'ROLE',
      Username: { 'Fn::GetAtt': ['ApiFunctionsRole', 'Arn'] },
      Scopes: [{ Name: 'cluster0', Type: 'CLUSTER' }],
    });
    expect(prod.template.Resources.AtlasStockConsumerDatabaseUser?.Properties.Roles).toEqual([{ RoleName: 'readWrite', DatabaseName: 'app', CollectionName: 'stock' }]);
    expect(prod.template.Resources.MongoUriSecret?.Properties.SecretString['Fn::If'][1]).toEqual({
      'Fn::Join': ['', ['{"uri":"mongodb+srv://', 'cluster0.abcde.mongodb.net', '/?authSource=%24external&authMechanism=MONGODB-AWS"}']],
    });
    expect(prod.template.Resources.AtlasVpcEndpoint?.Properties).toMatchObject({ VpcId: 'vpc-1', ServiceName: { 'Fn::GetAtt': ['AtlasPrivateEndpointService', 'EndpointServiceName'] } });
    // items on Lambda Managed Instances: the capacity provider, its concurrency per environment, the worker count
    expect(prod.template.Conditions.ItemsOnManagedInstances).toEqual({ 'Fn::Not': [{ 'Fn::Equals': ['arn:aws:lambda:us-east-1:123456789012:capacity-provider:items', ''] }] });
    expect(prod.template.Resources.ItemsLambdaFunction?.Properties.CapacityProviderConfig['Fn::If']).toEqual([
      'ItemsOnManagedInstances',
      { LambdaManagedInstancesCapacityProviderConfig: { CapacityProviderArn: 'arn:aws:lambda:us-east-1:123456789012:capacity-provider:items', PerExecutionEnvironmentMaxConcurrency: 64, ExecutionEnvironmentMemoryGiBPerVCpu: 2 } },
      { Ref: 'AWS::NoValue' },
    ]);
    expect(prod.template.Resources.ItemsLambdaFunction?.Properties.Environment.Variables.AWS_LAMBDA_NODEJS_WORKER_COUNT).toBe('2');
  });

  it('has an IAM-authentication stage: the functions\' roles as Atlas users, a connection string without a password', async () => {
    // Act
    const iam = await packageService('iam', [
      '--stage',
      'iam',
      '--param=atlasProjectId=0123456789abcdef01234567',
      '--param=atlasClusterName=cluster0',
      '--param=atlasClusterHost=cluster0.abcde.mongodb.net',
      '--param=atlasAccessListCidr=203.0.113.7/32',
    ]);

    // Assess
    expect(iam.result.refused).toEqual([]);
    expect(iam.template.Conditions).toMatchObject({ AtlasEnabled: { 'Fn::Not': [{ 'Fn::Equals': ['access-list', 'none'] }] }, AtlasAccessList: { 'Fn::Equals': ['access-list', 'access-list'] } });
    expect(iam.template.Resources.AtlasApiDatabaseUser?.Properties).toMatchObject({ DatabaseName: '$external', AWSIAMType: 'ROLE', Username: { 'Fn::GetAtt': ['ApiFunctionsRole', 'Arn'] } });
    const secret = JSON.stringify(iam.template.Resources.MongoUriSecret?.Properties.SecretString['Fn::If'][1]);
    expect(secret).toContain('authMechanism=MONGODB-AWS');
    expect(secret).not.toMatch(/:[^/@"]+@/);
  });
});
